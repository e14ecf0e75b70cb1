# Production image: the API, the worker and the scheduler run from it with different commands.

# Front-end assets (htmx, the bpmn-js viewer and modeller) built from npm, as `make install` does.
FROM node:20-bookworm-slim AS assets
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY api/static/src ./api/static/src
RUN mkdir -p vendor/bpmn \
 && cp node_modules/htmx.org/dist/htmx.min.js vendor/ \
 && node_modules/.bin/esbuild api/static/src/viewer.js --bundle --format=iife --minify --outfile=vendor/viewer.js \
 && node_modules/.bin/esbuild api/static/src/modeller.js --bundle --format=iife --minify --outfile=vendor/modeller.js \
 && cp -r node_modules/bpmn-js/dist/assets/diagram-js.css node_modules/bpmn-js/dist/assets/bpmn-js.css \
      node_modules/bpmn-js/dist/assets/bpmn-font vendor/bpmn/

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends fonts-hosny-amiri fonts-noto-core fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY engine ./engine
COPY api ./api
COPY --from=assets /build/vendor ./api/static/vendor
COPY forms ./forms
COPY signing ./signing
COPY processes ./processes
RUN pip install -c constraints.txt . && useradd --system --uid 10001 aqd && mkdir -p /app/var \
 && chown aqd /app/var
USER aqd
EXPOSE 8000
CMD ["aqd", "serve", "--host", "0.0.0.0", "--port", "8000", "--no-timers"]
