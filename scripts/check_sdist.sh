#!/usr/bin/env bash
# make sdist: build the sdist from the committed tree, check that it holds
# every source the build and the tests need, then install it in a fresh venv
# (a compiler and Python headers are all it may rely on) and run its own
# copy of the test suite from an empty directory against that install.
# The sdist lands in dist/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
PYTHON=${PYTHON:-python3}          # the interpreter of the fresh venv
TOOLS=${TOOLS:-$root/.venv/bin/python}
"$TOOLS" -m build --version >/dev/null 2>&1 ||
  "$TOOLS" -m pip install -q --disable-pip-version-check build 2>/dev/null

work=$(mktemp -d /tmp/loop-sdist.XXXXXX)
trap 'rm -rf "$work"' EXIT

# Build from `git archive`, not the work tree: an uncommitted or ignored
# file the build needs shows up here as a failure, not on a user's machine.
mkdir "$work/tree"
git archive HEAD | tar -x -C "$work/tree"
(cd "$work/tree" && "$TOOLS" -m build --sdist --outdir "$work/dist" . >"$work/build.log" 2>&1) ||
  { cat "$work/build.log"; exit 1; }
sdist=$(ls "$work"/dist/*.tar.gz)
echo "== $(basename "$sdist")"

# Every committed source of the extension and the package, and the suite.
base=$(basename "$sdist" .tar.gz)
tar -tzf "$sdist" | sed "s|^$base/||" | sort >"$work/have"
git ls-files src tests README.md LICENSE pyproject.toml setup.py MANIFEST.in |
  grep -E '^(src/.*\.(pyx|pxd|pxi|h|py|pyi)|src/loop/py\.typed|tests/[^/]*\.py|[^/]*)$' |
  sort >"$work/want"
missing=$(comm -23 "$work/want" "$work/have")
if [ -n "$missing" ]; then
  echo "the sdist lacks:" >&2; echo "$missing" >&2; exit 1
fi
if grep -E '\.(so|c)$' "$work/have"; then
  echo "the sdist holds build products (above)" >&2; exit 1
fi

# A fresh venv builds it from source (Cython comes from build-system.requires).
"$PYTHON" -m venv "$work/venv"
py=$work/venv/bin/python
"$py" -m pip install -q --disable-pip-version-check "$sdist[test]" >"$work/install.log" 2>&1 ||
  { cat "$work/install.log"; exit 1; }

# The sdist's own tests, from an empty directory: `import loop` can only
# find the install (LOOP_TEST_INSTALLED: test_packaging.py checks that).
tar -xzf "$sdist" -C "$work" "$base/tests"
mkdir "$work/empty"
cd "$work/empty"
LOOP_TEST_INSTALLED=1 "$py" -m pytest -q -rs -p no:cacheprovider \
  "$work/$base/tests"

mkdir -p "$root/dist"
cp "$sdist" "$root/dist/"   # the checked sdist (CI uploads it)
echo "== dist/$(basename "$sdist")"
