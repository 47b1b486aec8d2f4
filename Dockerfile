# syntax=docker/dockerfile:1
# The iclone-plan container image: a static binary on distroless/static
# (CA certificates, /etc/passwd with the nonroot user, no shell), running
# as that non-root user. deploy/kubernetes/ runs it as a CronJob per plan.
#
#   docker build -t iclone-plan .
#   docker run --rm -e GOVC_URL -e GOVC_USERNAME -e GOVC_PASSWORD \
#     -v "$PWD/plans:/plans:ro" iclone-plan plan /plans/lab.yaml

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
# The build context includes .git, so --version names the commit (the Go
# toolchain records it); pass VERSION for a release tag.
COPY . .
ARG VERSION=""
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=true \
      -ldflags "-s -w -X main.buildVersion=${VERSION}" \
      -o /out/iclone-plan ./cmd/iclone-plan

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/iclone-plan /usr/local/bin/iclone-plan
# 65532 is distroless's nonroot user; Kubernetes' runAsUser matches it.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/iclone-plan"]
CMD ["--help"]
