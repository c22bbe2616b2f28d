"""Build of loop's one extension module, loop._epoll.

LOOP_DEBUG=1 in the environment builds the debug variant: -O0 -g, the C
macro LOOP_DEBUG=1 (live-object counters) and Cython's bounds checks.
"""
import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

if not sys.platform.startswith('linux'):
    raise SystemExit('loop is Linux-only: its core calls epoll_wait directly.')

DEBUG = os.environ.get('LOOP_DEBUG') == '1'


def extensions():
    from Cython.Build import cythonize

    directives = {'language_level': 3, 'embedsignature': True}
    if DEBUG:
        directives.update(boundscheck=True, wraparound=True,
                          initializedcheck=True)
        cflags, macros = ['-O0', '-g3'], [('LOOP_DEBUG', '1')]
    else:
        cflags, macros = ['-O2'], []
    ext = Extension(
        'loop._epoll', ['src/_epoll.pyx'],
        include_dirs=['src/core'],
        # dlopen/dlsym (the TLS BIO finds OpenSSL in the _ssl module's
        # libssl): in libdl before glibc 2.34, an empty stub since.
        libraries=['dl'],
        define_macros=macros,
        extra_compile_args=cflags + ['-fno-strict-aliasing'],
    )
    # The generated C goes to a directory per interpreter and build kind, so
    # builds for several Pythons never write the same file.
    build_dir = 'build/cython/py{}{}{}'.format(
        *sys.version_info[:2], '-debug' if DEBUG else '')
    return cythonize([ext], compiler_directives=directives,
                     include_path=['src'], force=DEBUG, build_dir=build_dir)


class build_ext_atomic(build_ext):
    """--inplace builds replace the extension file by renaming a new one
    over it: a process that has the old file mapped (a benchmark server, a
    test) keeps its copy instead of crashing on a file rewritten under it."""

    def copy_file(self, infile, outfile, *args, **kwargs):
        if not outfile.endswith('.so'):
            return super().copy_file(infile, outfile, *args, **kwargs)
        tmp = outfile + '.new'
        result = super().copy_file(infile, tmp, *args, **kwargs)
        if os.path.exists(tmp):
            os.replace(tmp, outfile)
        return result


setup(ext_modules=extensions(), cmdclass={'build_ext': build_ext_atomic})
