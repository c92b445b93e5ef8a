#!/usr/bin/env bash
# Refreshes the Swagger UI that /docs serves from the package (no CDN): the files /docs needs
# from the swagger-ui-dist npm tarball, with its licence, and a SHA256SUMS to check them by.
# Usage: scripts/vendor-swagger-ui.sh 5.35.0   (then set SWAGGER_UI_VERSION in web/docs.py)
set -euo pipefail
version="${1:?usage: $0 VERSION}"
target="$(cd "$(dirname "$0")/.." && pwd)/src/hourglass/web/static/swagger-ui"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "swagger-ui-dist@$version" >/dev/null && tar xzf ./*.tgz)
rm -rf "$target" && mkdir -p "$target"
for f in swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui.css \
    favicon-32x32.png LICENSE NOTICE; do
  cp "$work/package/$f" "$target/"
done
echo "$version" > "$target/VERSION"
(cd "$target" && sha256sum swagger-ui-bundle.js swagger-ui.css favicon-32x32.png > SHA256SUMS)
echo "vendored swagger-ui-dist $version into $target"
