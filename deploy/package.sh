#!/usr/bin/env bash
# Builds the Debian package: a release build configured for /usr (so the programs look for
# /etc/petra/petrad.conf and the library lands in the multiarch directory), then CPack.
#   deploy/package.sh            -> build-deb/petra_<version>_<arch>.deb
#   sudo apt install ./build-deb/petra_*.deb
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
deploy/install-deps.sh >/dev/null
cmake -S . -B build-deb -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr -DPETRA_BUILD_TESTS=OFF >/dev/null
cmake --build build-deb -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
(cd build-deb && cpack -G DEB >/dev/null)
ls build-deb/petra_*.deb
