#!/usr/bin/env bash
# What the simulator (--sim, iclone-plan sim) costs of the binary, two ways:
#  1. the release build (stripped) against the same build of a copy of the
#     tree whose internal/sim is a stand-in without vcsim (internal/tools/simstub);
#  2. the sizes of the symbols of the packages only the simulator brings in
#     (linked through internal/sim and through nothing else), summed from
#     `go tool nm -size` of an unstripped build: a lower bound, as symbols the
#     linker does not name after a package (type descriptors, strings) and
#     what vcsim's reflection keeps of shared packages are left out.
# Usage: bash internal/tools/bench/simshare.sh [GOOS/GOARCH]
set -euo pipefail
cd "$(dirname "$0")/../../.."
target=${1:-linux/amd64}
export CGO_ENABLED=0 GOOS=${target%/*} GOARCH=${target#*/}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

go build -trimpath -o "$tmp/full" ./cmd/iclone-plan
go build -trimpath -ldflags '-s -w' -o "$tmp/stripped" ./cmd/iclone-plan

go list -deps ./cmd/iclone-plan | sort -u >"$tmp/all"
go list -deps $(go list -f '{{join .Imports "\n"}}' ./cmd/iclone-plan | grep -vx 'github.com/iclone-plan/iclone-plan/internal/sim') |
  sort -u >"$tmp/rest"
comm -23 "$tmp/all" "$tmp/rest" | grep -vx 'github.com/iclone-plan/iclone-plan/cmd/iclone-plan' >"$tmp/simonly"

# nm -size: address size type name. A symbol's package is its name up to the
# first dot after the last slash (github.com/vmware/govmomi/simulator.(*Foo).Bar).
go tool nm -size "$tmp/full" | awk -v list="$tmp/simonly" '
  BEGIN { while ((getline p < list) > 0) sim[p] = 1 }
  $3 ~ /^[TtDdBbRr]$/ {
    name = $4; sub(/^go:(itab|info)\./, "", name); sub(/^type:\*?/, "", name)
    n = split(name, parts, "/"); last = parts[n]; sub(/\..*$/, "", last)
    pkg = (n > 1 ? substr(name, 1, length(name) - length(parts[n])) : "") last
    total += $2; if (pkg in sim) { s += $2; by[pkg] += $2 }
  }
  END {
    printf "symbols attributed to simulator-only packages: %.1f MB of %.1f MB of symbols\n", s/1e6, total/1e6
    for (p in by) printf "  %8.2f MB  %s\n", by[p]/1e6, p | "sort -rn"
  }'
echo "simulator-only packages: $(wc -l <"$tmp/simonly")"

mkdir "$tmp/tree"
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
  [ -f "$f" ] && mkdir -p "$tmp/tree/$(dirname "$f")" && cp "$f" "$tmp/tree/$f"
done
GOOS= GOARCH= go run ./internal/tools/simstub -src internal/sim -out "$tmp/tree/internal/sim"
(cd "$tmp/tree" && go build -trimpath -ldflags '-s -w' -o "$tmp/nosim" ./cmd/iclone-plan)
with=$(stat -c %s "$tmp/stripped"); without=$(stat -c %s "$tmp/nosim")
printf "stripped binary (%s): %.1f MB with the simulator, %.1f MB without: the simulator is %.1f MB (%.0f %%)\n" \
  "$target" "${with}e-6" "${without}e-6" "$((with - without))e-6" "$(( (with - without) * 100 / with ))"
