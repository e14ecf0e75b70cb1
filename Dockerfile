# Production image: the API, the worker and the scheduler run from it with different commands.
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends fonts-hosny-amiri fonts-noto-core fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY engine ./engine
COPY api ./api
COPY forms ./forms
COPY signing ./signing
COPY processes ./processes
RUN pip install -c constraints.txt . && useradd --system --uid 10001 aqd && mkdir -p /app/var \
 && chown aqd /app/var
USER aqd
EXPOSE 8000
CMD ["aqd", "serve", "--host", "0.0.0.0", "--port", "8000", "--no-timers"]
