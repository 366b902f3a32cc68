# The mirror as a container image: a static binary built with the Go
# toolchain, on Debian slim with git (origin fetches for private modules)
# and CA certificates, running as an unprivileged user.
#
#   docker build -t modmirror .
#   docker run -p 3000:3000 -v modmirror:/var/lib/modmirror modmirror
#
# Flags go after the image name ("serve --upstream ..."), or as MODMIRROR_*
# variables. See docs/DEPLOY.md for replicas over S3 and PostgreSQL.

ARG GO_VERSION=1.26
ARG DEBIAN=bookworm

FROM golang:${GO_VERSION}-${DEBIAN} AS build
# The build's own module downloads: pass --build-arg GOPROXY=... to build
# through a mirror.
ARG GOPROXY=https://proxy.golang.org,direct
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Static (no cgo: the SQLite driver is pure Go), reproducible paths, and the
# VCS revision stamped for "modmirror version" when .git is in the context.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/modmirror ./cmd/modmirror \
	&& /out/modmirror version

FROM debian:${DEBIAN}-slim
RUN apt-get update \
	&& apt-get install -y --no-install-recommends git ca-certificates \
	&& rm -rf /var/lib/apt/lists/* \
	&& groupadd --system --gid 10001 modmirror \
	&& useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/modmirror --create-home --shell /usr/sbin/nologin modmirror
COPY --from=build /out/modmirror /usr/local/bin/modmirror
USER 10001:10001
# In a container the mirror must listen on every interface to be reached
# through a published port; outside one its default is 127.0.0.1:3000.
ENV MODMIRROR_LISTEN=0.0.0.0:3000 \
	MODMIRROR_DATA=/var/lib/modmirror \
	HOME=/var/lib/modmirror
VOLUME ["/var/lib/modmirror"]
EXPOSE 3000
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/modmirror"]
CMD ["serve"]
