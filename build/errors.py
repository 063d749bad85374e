"""The build step's errors: one small hierarchy, each message one line for the user.

Every message a user can cause names the thing, the rule, the actual value and the fix
(STYLE 13). ``python -m build`` prints ``error: <message>`` and exits 2 (1 is kept for
"audit found something incompatible").
"""

from __future__ import annotations


class BuildError(Exception):
    """Base of every error the build step raises on purpose."""


class ConfigError(BuildError):
    """Bad input: a missing workspace or binary, an unknown runtime or architecture."""


class PolicyError(ConfigError):
    """A runtime policy file that is missing, corrupt or fails validation."""


class CommandError(BuildError):
    """A subprocess failed; the message holds the command, its exit status and stderr's tail."""


class CargoError(BuildError):
    """cargo failed or gave output we cannot use."""


class ElfError(BuildError):
    """A file that is not an ELF file we can read."""


class IncompatibleError(BuildError):
    """A binary the target runtime cannot load: wrong architecture, too-new symbol versions."""


class ResolveError(BuildError):
    """A DT_NEEDED entry that cannot be found, or two different libraries with one SONAME."""


class BundleError(BuildError):
    """Copying or patching a library into ``lib/`` failed."""


class LimitError(BuildError):
    """An artifact over one of Lambda's size limits."""


class CertError(ConfigError):
    """The committed RDS CA bundle (build/certs/) is missing or disagrees with its provenance."""


class OutputError(BuildError):
    """The output folder cannot be written."""
