# Production image: the API, the worker and the scheduler run from it with different commands
# (docker-compose.yml). tests/test_dockerfile.py checks this file: the COPY sources exist, the
# assets come from `npm run build`, the runtime has WeasyPrint's libraries and fonts, the state
# lives in /app/var.

# Front-end assets: the one build `make install` runs too (api/static/build.mjs), writing
# api/static/vendor/ (htmx, bpmn-js viewer and modeller, dmn-js editor, their styles and fonts).
FROM node:20-bookworm-slim AS assets
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY api/static/build.mjs ./api/static/build.mjs
COPY api/static/src ./api/static/src
RUN npm run build

# The wheel, with the built assets as package data: the runtime installs the package, as
# tests/test_installed.py does outside the source tree, and keeps no source checkout.
FROM python:3.11-slim-bookworm AS wheel
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY engine ./engine
COPY api ./api
COPY forms ./forms
COPY signing ./signing
COPY --from=assets /build/api/static/vendor ./api/static/vendor
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 AQD_VAR_DIR=/app/var
# WeasyPrint (contract documents, reports) needs Pango and HarfBuzz's subsetter (without it,
# every PDF embeds whole fonts and warns); the fonts the document templates name (Noto, DejaVu)
# and the Arabic faces of the signature stamps (signing/pades.py). poppler-utils' pdftoppm draws
# the contract's pages as images for phones (forms/pdfpages.py).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 \
      fonts-noto-core fonts-dejavu-core poppler-utils \
 && rm -rf /var/lib/apt/lists/*
# The user has a home for fontconfig's cache (without one, every process warns it has none).
RUN useradd --system --create-home --uid 10001 aqd && mkdir -p /app/var && chown aqd /app/var
WORKDIR /app
COPY constraints.txt ./
COPY --from=wheel /wheels /wheels
RUN pip install -c constraints.txt /wheels/*.whl && rm -rf /wheels
# The programmes are data, deployed with `aqd deploy processes/<programme>` (the compose
# migrate job); the installed package does not need them.
COPY processes ./processes
USER aqd
VOLUME /app/var
EXPOSE 8000
CMD ["aqd", "serve", "--host", "0.0.0.0", "--port", "8000", "--no-timers"]
