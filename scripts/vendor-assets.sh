#!/usr/bin/env bash
# Vendor the dashboard's third-party browser files from their npm tarballs, pinned.
#
# Run it to update a version (edit PINS below), then commit what it writes under
# src/hourglass/web/dashboard/static/vendor/: the files, their licenses and SHA256SUMS.
# Nothing is fetched at run time: Hourglass serves these files from the package itself.
# Needs npm (only here, never at run time). `npm pack` checks each tarball's integrity.
set -euo pipefail
cd "$(dirname "$0")/.."
VENDOR=src/hourglass/web/dashboard/static/vendor
# package@version  file-inside-the-tarball  name-served
PINS=(
  "htmx.org@2.0.11 package/dist/htmx.min.js htmx.min.js"
  "uplot@1.6.32 package/dist/uPlot.iife.min.js uPlot.iife.min.js"
  "uplot@1.6.32 package/dist/uPlot.min.css uPlot.min.css"
  "ansi_up@6.0.6 package/ansi_up.js ansi_up.js"
)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rm -rf "$VENDOR" && mkdir -p "$VENDOR/licenses"
for pin in "${PINS[@]}"; do
  read -r spec inner served <<<"$pin"
  name=${spec%@*}
  dir="$work/$name"
  if [ ! -d "$dir" ]; then
    mkdir -p "$dir"
    (cd "$work" && npm pack --silent "$spec" >/dev/null)
    tar xzf "$work/$(echo "$name" | tr -d '@' | tr '/' '-')-${spec##*@}.tgz" -C "$dir"
    cp "$dir/package/LICENSE" "$VENDOR/licenses/$spec.LICENSE"
  fi
  cp "$dir/$inner" "$VENDOR/$served"
done
printf '%s\n' "${PINS[@]}" | awk '{print $1, $3}' > "$VENDOR/VERSIONS"
(cd "$VENDOR" && find . -type f ! -name SHA256SUMS | sort | sed 's|^\./||' | xargs sha256sum > SHA256SUMS)
echo "vendored into $VENDOR:" && cat "$VENDOR/VERSIONS"
