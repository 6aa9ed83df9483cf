# syntax=docker/dockerfile:1
# Build: a static binary (modernc.org/sqlite is pure Go, so CGO is off).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/sockplay .

# Run: no shell, no root. The database lives in the /data volume.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/sockplay /sockplay
VOLUME /data
WORKDIR /data
EXPOSE 8080 20000-20999
USER nonroot:nonroot
# Inside a container loopback is unreachable from the host, so the web server
# and the lab bind all interfaces here, and only here, by explicit flags.
# Publish the ports on the host's loopback: docker run -p 127.0.0.1:8080:8080 …
ENTRYPOINT ["/sockplay"]
CMD ["-addr", "0.0.0.0:8080", "-lab-host", "0.0.0.0", "-db", "/data/sockplay.db"]
