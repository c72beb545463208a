"""Stand-in for the pip bootstrap script ansible-test downloads into new sanity venvs.

ansible-test runs its cached ``get_pip_<version>.py`` with the packages to
install as arguments (``pip==24.2 setuptools==... --disable-pip-version-check``).
The script's usual download host is not reachable here, so this one does the
same job with what Python ships and the package index: ensurepip for a first
pip, then ``pip install`` of exactly the requested packages.
"""

import subprocess
import sys

subprocess.run([sys.executable, "-m", "ensurepip", "--default-pip"], check=True, stdout=subprocess.DEVNULL)
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.run([sys.executable, "-m", "pip", "install", *args]).returncode)
