"""Read the Dockerfile and the .dockerignore well enough to check them and to replay a stage's
COPY instructions outside a container (no container can be built on the CI machine: no image
registry is reachable, so not even a base image can be pulled; docs/deployment.md)."""

from __future__ import annotations

import fnmatch
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, COPY, RUN, ENV, ...
    args: str  # the rest of the line, continuations joined
    line: int

    def words(self) -> list[str]:
        return shlex.split(self.args)


@dataclass
class Stage:
    name: str | None
    base: str
    instructions: list[Instruction] = field(default_factory=list)

    def of(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def env(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for instruction in self.of("ENV"):
            for word in instruction.words():
                key, sep, value = word.partition("=")
                if not sep:
                    raise ValueError(f"line {instruction.line}: ENV without '=' ({word!r})")
                found[key] = value
        return found

    def workdir(self) -> PurePosixPath:
        current = PurePosixPath("/")
        for instruction in self.of("WORKDIR"):
            current = current / instruction.args.strip()
        return current


@dataclass(frozen=True)
class Copy:
    sources: list[str]
    dest: str
    source_stage: str | None  # --from=
    line: int


def parse(path: Path) -> list[Stage]:
    """The stages of a Dockerfile, in order (comments dropped, continuations joined)."""
    stages: list[Stage] = []
    logical = ""
    start = 0
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = raw.strip()
        if not logical and (not stripped or stripped.startswith("#")):
            continue
        if logical and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if not logical:
            start = number
        if stripped.endswith("\\"):
            logical += stripped[:-1] + " "
            continue
        logical += stripped
        keyword, _, args = logical.partition(" ")
        instruction = Instruction(keyword.upper(), args.strip(), start)
        logical = ""
        if instruction.keyword == "FROM":
            words = instruction.words()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            if len(words) not in (1, 3):
                raise ValueError(f"line {start}: unexpected FROM {instruction.args!r}")
            stages.append(Stage(name, words[0]))
        elif not stages:
            raise ValueError(f"line {start}: {instruction.keyword} before the first FROM")
        else:
            stages[-1].instructions.append(instruction)
    if logical:
        raise ValueError("the Dockerfile ends inside a continued instruction")
    return stages


def copies(stage: Stage) -> list[Copy]:
    found: list[Copy] = []
    for instruction in stage.of("COPY"):
        words = instruction.words()
        source_stage = None
        while words and words[0].startswith("--"):
            flag = words.pop(0)
            if flag.startswith("--from="):
                source_stage = flag.removeprefix("--from=")
            elif not flag.startswith("--chown=") and not flag.startswith("--chmod="):
                raise ValueError(f"line {instruction.line}: unsupported COPY flag {flag}")
        if len(words) < 2:
            raise ValueError(f"line {instruction.line}: COPY needs a source and a destination")
        found.append(Copy(words[:-1], words[-1], source_stage, instruction.line))
    return found


def ignore_patterns(context: Path) -> list[str]:
    path = context / ".dockerignore"
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def ignored(relative: str, patterns: list[str]) -> bool:
    """Whether the build context leaves out this path (a subset of Docker's rules: no '!')."""
    parts = PurePosixPath(relative).parts
    for written in patterns:
        if written.startswith("!"):
            raise ValueError(f"exceptions in .dockerignore are not supported here: {written}")
        pattern = written.rstrip("/")
        # a pattern excludes a path and everything under it
        for depth in range(1, len(parts) + 1):
            prefix = "/".join(parts[:depth])
            if fnmatch.fnmatchcase(prefix, pattern):
                return True
            if pattern.startswith("**/") and fnmatch.fnmatchcase(parts[depth - 1], pattern[3:]):
                return True
    return False


def context_sources(copy: Copy, context: Path) -> list[Path]:
    """The build-context paths a COPY reads (an error if one is missing or ignored)."""
    patterns = ignore_patterns(context)
    paths: list[Path] = []
    for source in copy.sources:
        path = context / source
        if not path.exists():
            raise FileNotFoundError(f"line {copy.line}: COPY {source}: not in the build context")
        if ignored(source, patterns):
            raise FileNotFoundError(f"line {copy.line}: COPY {source}: left out by .dockerignore")
        paths.append(path)
    return paths


def replay_copy(copy: Copy, context: Path, root: Path, workdir: PurePosixPath) -> None:
    """Copy what this instruction copies from the build context into ``root`` (the stage's
    filesystem), leaving out what .dockerignore leaves out."""
    patterns = ignore_patterns(context)
    dest = PurePosixPath(copy.dest)
    target = root / (dest if dest.is_absolute() else workdir / dest).relative_to("/")
    for path in context_sources(copy, context):
        if path.is_dir():

            def skip(directory: str, names: list[str]) -> set[str]:
                base = Path(directory).relative_to(context)
                return {n for n in names if ignored((base / n).as_posix(), patterns)}

            shutil.copytree(path, target, ignore=skip, dirs_exist_ok=True)
        else:
            into = target / path.name if copy.dest.endswith("/") else target
            into.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, into)


def stage(stages: list[Stage], name: str) -> Stage:
    for candidate in stages:
        if candidate.name == name:
            return candidate
    raise LookupError(f"the Dockerfile has no stage {name!r}")


def replay_node_stage(found: Stage, context: Path, root: Path) -> PurePosixPath:
    """Run a front-end stage here: its COPY instructions into ``root``, its ``npm ci`` as a
    link to the context's node_modules (installed from the same package-lock.json), its
    ``npm run …`` as they are; any other RUN is an error. Returns the stage's WORKDIR, under
    which ``root`` holds what the stage produced."""
    workdir = found.workdir()
    here = root / workdir.relative_to("/")
    here.mkdir(parents=True, exist_ok=True)
    for instruction in found.instructions:
        if instruction.keyword == "COPY":
            (copy,) = copies(Stage(found.name, found.base, [instruction]))
            replay_copy(copy, context, root, workdir)
        elif instruction.keyword == "RUN":
            words = instruction.words()
            if words[:2] == ["npm", "ci"]:
                if not (context / "node_modules").is_dir():
                    raise FileNotFoundError("node_modules is missing: run npm ci (make install)")
                (here / "node_modules").symlink_to(context / "node_modules")
            elif words[:2] == ["npm", "run"]:
                subprocess.run(words, cwd=here, check=True, capture_output=True, text=True)
            else:
                raise ValueError(f"line {instruction.line}: cannot replay RUN {instruction.args}")
        elif instruction.keyword not in ("WORKDIR", "ENV"):
            raise ValueError(f"line {instruction.line}: cannot replay {instruction.keyword}")
    return workdir
