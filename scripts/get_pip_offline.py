"""Stand-in for get-pip.py, used by ansible-test sanity.

ansible-test downloads get-pip.py from a host that cannot be reached here. This
stand-in does what get-pip.py does without that download: it runs pip from the
wheel bundled with the standard library's ensurepip and installs the requested
packages (pip==X, setuptools...) from the package index pip is configured for.
"""
import glob
import os
import runpy
import sys


def main():
    import ensurepip

    bundled = os.path.join(os.path.dirname(ensurepip.__file__), "_bundled")
    wheels = sorted(glob.glob(os.path.join(bundled, "pip-*.whl")))
    if not wheels:
        sys.exit("get-pip stand-in: no pip wheel bundled with ensurepip")
    sys.path.insert(0, wheels[-1])
    # get-pip.py's own switches; pip install does not know them.
    args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
    sys.argv = ["pip", "install", "--find-links", bundled] + args
    runpy.run_module("pip", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
