#!/bin/sh
# An aarch64 Python with this project's NumPy and Numba, run under qemu-user, for tests/runtime/test_aarch64.py:
# Debian's arm64 python3.11 unpacked into DIR/root (not installed: the host's Python is untouched) and the aarch64
# wheels of the venv's numpy, numba and llvmlite from PyPI in DIR/site. Needs root (apt) and the package registries.
#   tools/aarch64_env.sh build/aarch64 .venv/bin/python
set -eu
dir=$1
py=${2:-python3}
if ! command -v qemu-aarch64-static >/dev/null; then
	apt-get install -y -q qemu-user-static >/dev/null
fi
dpkg --print-foreign-architectures | grep -qx arm64 || { dpkg --add-architecture arm64; apt-get update -q >/dev/null; }
mkdir -p "$dir/debs" "$dir/root"
(cd "$dir/debs" && apt-get download -q python3.11:arm64 python3.11-minimal:arm64 libpython3.11-minimal:arm64 \
	libpython3.11-stdlib:arm64 libc6:arm64 libexpat1:arm64 zlib1g:arm64 libssl3:arm64 libffi8:arm64 \
	libbz2-1.0:arm64 liblzma5:arm64 libgcc-s1:arm64 libstdc++6:arm64 libuuid1:arm64 libsqlite3-0:arm64 \
	libncursesw6:arm64 libtinfo6:arm64 libreadline8:arm64 libcrypt1:arm64 >/dev/null 2>&1)
for deb in "$dir"/debs/*.deb; do dpkg -x "$deb" "$dir/root"; done
versions=$("$py" -c 'import numpy, numba; print(f"numpy=={numpy.__version__} numba=={numba.__version__}")')
# shellcheck disable=SC2086
"$py" -m pip install -q --target "$dir/site" --only-binary=:all: --python-version 3.11 --implementation cp \
	--abi cp311 --platform manylinux2014_aarch64 --platform manylinux_2_17_aarch64 \
	--platform manylinux_2_28_aarch64 $versions
echo "aarch64 Python in $dir: qemu-aarch64-static -L $dir/root $dir/root/usr/bin/python3.11"
