#!/usr/bin/env bash
# The release build of Tally's Docker image, laid out as the runtime stage takes it: run by the Dockerfile's
# build stage and, the same script, by scripts/check-deploy.sh in `make test`, so that the image is built the
# way the tests build and the libraries it carries are checked against the binary the tests ran.
#
# usage: scripts/docker/build.sh OUT
#   OUT/usr/local/bin/tally             the release binary (`swift build -c release`, as `make run` builds it)
#   OUT/usr/lib/swift/linux/*.so        the Swift runtime libraries it links, as ldd finds them in the
#                                       toolchain (the official Swift image's toolchain lives in /usr, and the
#                                       binary's RUNPATH names /usr/lib/swift/linux there)
# The binary's other shared libraries come from Debian packages: the Dockerfile's RUNTIME_PACKAGES.
set -euo pipefail

out=${1:?usage: build.sh OUT}
cd "$(dirname "$0")/../.."

swift build -c release >&2
bin=$(swift build -c release --show-bin-path)/tally
[ -x "$bin" ] || { echo "build.sh: no tally binary at $bin" >&2; exit 1; }

# The toolchain's runtime libraries: <toolchain>/usr/bin/swift -> <toolchain>/usr/lib/swift/linux.
toolchain_libs=$(cd "$(dirname "$(readlink -f "$(command -v swift)")")/../lib/swift/linux" && pwd -P)

mkdir -p "$out/usr/local/bin" "$out/usr/lib/swift/linux"
install -m 0755 "$bin" "$out/usr/local/bin/tally"
# ldd lines look like "libswiftCore.so => /usr/lib/swift/linux/libswiftCore.so (0x...)".
ldd "$bin" | awk '$2 == "=>" { print $3 }' | while read -r path; do
    case "$(readlink -f "$path")" in
        "$toolchain_libs"/*) install -m 0644 "$path" "$out/usr/lib/swift/linux/" ;;
    esac
done
[ -f "$out/usr/lib/swift/linux/libswiftCore.so" ] ||
    { echo "build.sh: libswiftCore.so was not found among the binary's libraries in $toolchain_libs" >&2; exit 1; }
