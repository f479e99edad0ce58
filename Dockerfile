# The controller image, for users with Docker:
#   docker build -t REGISTRY/progressive:0.1.0 . && docker push REGISTRY/progressive:0.1.0
# scripts/build-image builds the same layout (a virtualenv in /opt/progressive, user 65532,
# entrypoint progressive, command controller) as an OCI archive with no daemon and no
# registry, on Debian's python3; that is the image the tests run and deploy/ names.
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m venv /opt/progressive \
    && /opt/progressive/bin/pip install --no-cache-dir --disable-pip-version-check .

FROM python:3.11-slim-bookworm
COPY --from=build /opt/progressive /opt/progressive
RUN groupadd --gid 65532 progressive \
    && useradd --uid 65532 --gid 65532 --home-dir /tmp --shell /usr/sbin/nologin progressive
USER 65532:65532
WORKDIR /tmp
ENV PATH=/opt/progressive/bin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp
ENTRYPOINT ["/opt/progressive/bin/progressive"]
CMD ["controller"]
