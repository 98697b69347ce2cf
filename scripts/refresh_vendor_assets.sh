#!/usr/bin/env bash
# Refresh the vendored front-end assets committed to this repository.
#
# Why this exists: Child Index uses GOV.UK Frontend (CSS, JS, fonts, images)
# and axe-core (for the browser accessibility tests), but the people who run
# and develop the service must not need Node. So we commit the built files,
# and this script is the one documented way to (re)produce them from pinned
# npm package versions. Only a maintainer bumping a version needs node/npm.
#
# Usage: scripts/refresh_vendor_assets.sh   (bump the versions below first)
set -euo pipefail

GOVUK_FRONTEND_VERSION="5.14.0"
AXE_CORE_VERSION="4.14.1"

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "${SCRIPT_DIR}/.." && pwd)"
GOVUK_DEST="${REPO_ROOT}/index_service/static/govuk"
AXE_DEST="${REPO_ROOT}/tests/browser/vendor"

command -v npm >/dev/null 2>&1 || { echo "error: npm is required to refresh vendored assets" >&2; exit 1; }

WORK_DIR="$(mktemp -d)"
trap 'rm -rf "${WORK_DIR}"' EXIT

# fetch NAME VERSION -> extracts the package into ${WORK_DIR}/NAME/package
fetch() {
    local name="$1" version="$2" dir="${WORK_DIR}/$1" tarball
    mkdir -p "${dir}"
    tarball="$(cd "${dir}" && npm pack --silent "${name}@${version}" | tail -n 1)"
    tar -xzf "${dir}/${tarball}" -C "${dir}"
    echo "fetched ${name}@${version}" >&2
}

# --- GOV.UK Frontend -------------------------------------------------------
fetch govuk-frontend "${GOVUK_FRONTEND_VERSION}"
GOVUK_SRC="${WORK_DIR}/govuk-frontend/package/dist/govuk"
rm -rf "${GOVUK_DEST}"
mkdir -p "${GOVUK_DEST}"
cp "${GOVUK_SRC}/govuk-frontend.min.css" "${GOVUK_DEST}/"
cp "${GOVUK_SRC}/govuk-frontend.min.js" "${GOVUK_DEST}/"   # an ES module in v5
cp -R "${GOVUK_SRC}/assets" "${GOVUK_DEST}/assets"
if [[ -f "${WORK_DIR}/govuk-frontend/package/LICENSE.txt" ]]; then
    cp "${WORK_DIR}/govuk-frontend/package/LICENSE.txt" "${GOVUK_DEST}/LICENSE.txt"
else
    # The npm tarball (5.x) ships no licence file; package.json declares MIT.
    # Write the upstream repository's LICENSE.txt text, after checking the
    # declared licence has not changed.
    if ! grep -q '"license": *"MIT"' "${WORK_DIR}/govuk-frontend/package/package.json"; then
        echo "error: govuk-frontend@${GOVUK_FRONTEND_VERSION} no longer declares MIT; review its licence" >&2
        exit 1
    fi
    cat > "${GOVUK_DEST}/LICENSE.txt" <<'LICENCE'
The MIT License (MIT)

Copyright (C) 2017 Crown Copyright (Government Digital Service)

Permission is hereby granted, free of charge, to any person obtaining a copy of
this software and associated documentation files (the "Software"), to deal in
the Software without restriction, including without limitation the rights to
use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies
of the Software, and to permit persons to whom the Software is furnished to do
so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
LICENCE
fi
printf '%s\n' "${GOVUK_FRONTEND_VERSION}" > "${GOVUK_DEST}/VERSION"

# --- axe-core (browser accessibility tests only) ---------------------------
fetch axe-core "${AXE_CORE_VERSION}"
AXE_SRC="${WORK_DIR}/axe-core/package"
mkdir -p "${AXE_DEST}"
cp "${AXE_SRC}/axe.min.js" "${AXE_DEST}/axe.min.js"
cp "${AXE_SRC}/LICENSE" "${AXE_DEST}/axe-core-LICENSE.txt"
printf '%s\n' "${AXE_CORE_VERSION}" > "${AXE_DEST}/AXE_VERSION"

echo "GOV.UK Frontend ${GOVUK_FRONTEND_VERSION} -> ${GOVUK_DEST#"${REPO_ROOT}"/}" >&2
echo "axe-core ${AXE_CORE_VERSION} -> ${AXE_DEST#"${REPO_ROOT}"/}" >&2
