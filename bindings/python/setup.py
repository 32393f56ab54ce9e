"""setup.py -- what pyproject.toml cannot say: with RNN_BUNDLE set, the wheel carries librnn.so.1
in the rnn package folder, where the binding looks right after RNN_LIBRARY.

  RNN_BUNDLE unset, "" or "0"   a pure-Python wheel (py3-none-any): the library is found at run
                                time (RNN_LIBRARY, an installed librnn.so.1, the build tree)
  RNN_BUNDLE=1                  builds the library of the source tree this file is in
                                (make lib/librnn.so.1 in ../..: the default build) and bundles it
  RNN_BUNDLE=/path/librnn.so.1  bundles that file

A bundled wheel is tagged py3-none-<platform>; the library in it still links the system's BLAS
(libopenblas0 for the default build). Metadata: pyproject.toml.
"""
import os
import shutil
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
SONAME = "librnn.so.1"


def bundle_wanted():
    return os.environ.get("RNN_BUNDLE", "") not in ("", "0")


def bundled_library():
    """The path of the library to bundle (RNN_BUNDLE), built first for RNN_BUNDLE=1."""
    how = os.environ["RNN_BUNDLE"]
    if how != "1":
        if not os.path.isfile(how):
            raise SystemExit("RNN_BUNDLE=%s: no such file (give a librnn.so.1, or 1 to build one)" % how)
        return how
    root = os.path.normpath(os.path.join(HERE, "..", ".."))
    if not (os.path.isfile(os.path.join(root, "Makefile")) and os.path.isfile(os.path.join(root, "include", "rnn.h"))):
        raise SystemExit("RNN_BUNDLE=1: %s is not a librnn source tree (build from the tree, or set "
                         "RNN_BUNDLE to the path of a librnn.so.1)" % root)
    # the default build (lib/), whatever variables an enclosing make would pass down
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    subprocess.check_call(["make", "-C", root, "lib/" + SONAME], env=env)
    return os.path.join(root, "lib", SONAME)


class BuildPy(build_py):
    """build_py, then the bundled library into the package (or a stale one from an earlier
    bundled build out of it: the in-tree build folder is reused)."""

    def run(self):
        super().run()
        dest = os.path.join(self.build_lib, "rnn", SONAME)
        if bundle_wanted():
            shutil.copyfile(bundled_library(), dest)  # the file, not a symbolic link
            os.chmod(dest, 0o755)
        elif os.path.exists(dest):
            os.remove(dest)


cmdclass = {"build_py": BuildPy}
try:
    from wheel.bdist_wheel import bdist_wheel
except ImportError:  # no wheel package: pip cannot build wheels anyway
    bdist_wheel = None
if bdist_wheel is not None:
    class BdistWheel(bdist_wheel):
        """A bundled wheel holds a shared library: platform-specific, but any Python 3."""

        def finalize_options(self):
            super().finalize_options()
            if bundle_wanted():
                self.root_is_pure = False

        def get_tag(self):
            python, abi, plat = super().get_tag()
            return ("py3", "none", plat) if bundle_wanted() else (python, abi, plat)

    cmdclass["bdist_wheel"] = BdistWheel

setup(cmdclass=cmdclass)
