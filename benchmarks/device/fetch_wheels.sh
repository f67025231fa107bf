#!/usr/bin/env bash
# Download the wheels of wheels.txt for the device machine (x86-64, CPython 3.12 by default) into
# .whl/ at the repository root, and keep that folder out of git. Run here, before the device call
# that names ".whl" in carry. About 42 MB.
#
#   bash benchmarks/device/fetch_wheels.sh [PYTHON_VERSION [DIR]]
set -euo pipefail
cd "$(dirname "$0")/../.."
version=${1:-3.12}
dir=${2:-.whl}
mkdir -p "$dir"
if [ "$dir" = .whl ] && ! grep -qx '/.whl/' .git/info/exclude 2>/dev/null; then
  echo '/.whl/' >> .git/info/exclude
fi
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_24_x86_64 manylinux_2_17_x86_64 \
         manylinux2014_x86_64 manylinux1_x86_64 any; do
  platforms+=(--platform "$p")
done
grep -v '^#' benchmarks/device/wheels.txt | grep -v '^$' |
  xargs python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$version" \
    --implementation cp "${platforms[@]}" -d "$dir"
ls "$dir" | wc -l | xargs echo "wheels in $dir:"
du -sh "$dir"
