"""Run a Hydra app so that a user's mistake prints one line and exits 2.

Hydra prints composition errors over several lines and exits 1. We let its exceptions through
(HYDRA_FULL_ERROR) and print our own line instead: config errors name the key or group, data
errors name the file, row or column; a run stopped by SIGINT/SIGTERM says where its checkpoint
is. Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
import os
import re
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException, MissingConfigException, OverrideParseException
from hydra.types import RunMode
from omegaconf import OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

# ${sft.config_keys:} for sft-train's --help
from sft.config import APPS_CONF_DIR, CONF_DIR, key_help, uris  # noqa: F401
from sft.errors import RunInterrupted, SFTError, first_line
from sft.tracking.sweep import ENV_SWEEP, close_sweep

EXIT_USAGE = 2
SFT_DIR = str(Path(__file__).resolve().parent)  # warnings from code under it: one line
NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)


def run_app(
    task: Callable[[Any], Any], config_name: str, prog: str, config_dir: str = APPS_CONF_DIR
) -> None:
    """Run `task` as the Hydra app over `<config_dir>/<config_name>.yaml`, with one-line
    errors. `config_dir`: apps/ (one YAML per app, no groups), or conf/ for sft-train."""
    os.environ["HYDRA_FULL_ERROR"] = "1"  # raise instead of printing, so we print one line
    warnings.formatwarning = format_warning

    @hydra.main(config_path=config_dir, config_name=config_name, version_base="1.3")
    def _app(cfg):
        try:
            return task(cfg)
        except SFTError as err:
            if _is_multirun():
                note = failure_note()
                if note:  # the line printed when the sweep ends says why it ended
                    err.args = (f"{err}{note}", *err.args[1:])
                raise  # Hydra names the failing job's overrides first; we add the line below
            _fail(prog, str(err), err.exit_code)  # a single run: just our line
        except OmegaConfBaseException as err:  # e.g. a ??? key (data.train_path) read unset
            if _is_multirun():
                raise
            # Raised out of the job, Hydra would print its "Error executing job" line first.
            _fail(prog, describe_omegaconf_error(err))

    status = "FAILED"
    try:
        _app()
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    except RunInterrupted as err:  # SIGINT / SIGTERM: where the checkpoint is, how to resume
        status = "KILLED"
        print(f"{prog}: {err.message}", file=sys.stderr)
        sys.exit(err.code)
    except SystemExit as err:  # --help exits 0
        status = "FINISHED" if err.code in (0, None) else "FAILED"
        raise
    except SFTError as err:
        _fail(prog, str(err), err.exit_code)
    except MissingConfigException as err:
        _fail(prog, describe_missing_config(err))
    except OverrideParseException as err:
        _fail(prog, describe_override_error(err))
    except HydraException as err:
        _fail(prog, describe_hydra_error(err))
    except OmegaConfBaseException as err:
        _fail(prog, describe_omegaconf_error(err))
    except OSError as err:  # after Hydra's: MissingConfigException is an OSError too
        if err.errno not in NOT_WRITABLE:
            raise  # a bug, or a failure of the machine: keep the traceback
        # Hydra creates the run folder under paths.outputs before the task starts.
        _fail(
            prog,
            f"cannot write to {err.filename} ({err.strerror}); set paths.outputs to a "
            f"writable folder",
        )
    finally:
        _close_open_sweep(status)


def _close_open_sweep(status: str) -> None:
    """A sweep that stopped early (a failed job, Ctrl-C) still gets its summary and an end."""
    if os.environ.get(ENV_SWEEP):
        close_sweep(status)


def _is_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def format_warning(message, category, filename, lineno, line=None) -> str:
    """A warning raised from sft's own code as one line, `UserWarning: <message>`, without
    Python's path prefix and the echoed source line (`  warnings.warn(`): it says what
    happened, and our code is no part of that. Any other warning keeps Python's format."""
    if str(filename).startswith(SFT_DIR):
        return f"{category.__name__}: {message}\n"
    return DEFAULT_FORMAT(message, category, filename, lineno, line)


DEFAULT_FORMAT = warnings.formatwarning


def failure_note() -> str:
    """In a sweep whose sweeper gives up on failed trials (Optuna's
    `hydra.sweeper.max_failure_rate`, 0.0 by default: one failed trial ends the search),
    what a job's error adds: that key, its value and how to go on past failed trials."""
    rate = OmegaConf.select(HydraConfig.get().sweeper, "max_failure_rate", default=None)
    if rate is None:
        return ""
    return (
        f"; the Optuna search ends when more than hydra.sweeper.max_failure_rate={rate:g} of "
        "a batch of trials fail (0: any one): raise it (e.g. hydra.sweeper.max_failure_rate="
        "0.5) to go on past failed trials"
    )


def _fail(prog: str, message: str, code: int = EXIT_USAGE) -> None:
    print(f"{prog}: error: {message}", file=sys.stderr)
    sys.exit(code)


def describe_missing_config(err: MissingConfigException) -> str:
    """'unknown choice ...' for a group option that has no YAML file."""
    missing = err.missing_cfg_file or ""
    group, _, choice = missing.rpartition("/")
    if group and err.options is not None:
        return (
            f"unknown choice '{choice}' for config group '{group}' "
            f"(choices: {', '.join(sorted(err.options))})"
        )
    return first_line(str(err))


def describe_override_error(err: OverrideParseException) -> str:
    """One line for an override Hydra cannot parse, keeping Hydra's advice (its further lines,
    joined with '; '); a value with an unquoted '=' also gets how to quote it, shell-safe."""
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    advice = [line[:1].lower() + line[1:] for line in lines[1:]]
    key, _, value = (err.override or "").partition("=")
    if "=" in value and value[:1] not in "'\"":
        advice.insert(0, f"quote the value: \"{key}='{value}'\"")
    return f"cannot parse override '{err.override}': " + "; ".join(lines[:1] + advice)


def describe_ambiguous_value(message: str) -> str | None:
    """Hydra's advice on `key=a,b` outside a multirun, in one line and for this key (Hydra's
    own lines say `key=...`, and its quotes are lost to the shell unless quoted again)."""
    found = re.match(r"Ambiguous value for argument '([^=']+)=(.*)'$", first_line(message))
    if not found:
        return None
    key, value = found.groups()
    return (
        f"ambiguous value in '{key}={value}': for a list use {key}=[{value}]; for a "
        f"string quote it: \"{key}='{value}'\"; for a sweep add --multirun"
    )


def unknown_key(key: str) -> str:
    """The line for a key the config lacks, with the command that lists the keys there (a
    '+key=' addition is refused by the schema check anyway, so it is not suggested)."""
    group = key.rsplit(".", 1)[0] if "." in key else None
    if group == "trainer" and _trainer_argument(key.split(".", 1)[1]):
        # The config lists the common Trainer arguments; any other one is added with '+'.
        return (
            f"unknown config key '{key}': a pytorch_lightning.Trainer argument the config does "
            f"not list; add it with +{key}=..."
        )
    return f"unknown config key '{key}' (--cfg job{f' -p {group}' if group else ''} lists the keys)"


def _trainer_argument(name: str) -> bool:
    """Whether `name` is an argument of pytorch_lightning.Trainer (read from its signature)."""
    import inspect  # here: only on this error's path

    from pytorch_lightning import Trainer  # lazy: only on this error's path

    return name in inspect.signature(Trainer.__init__).parameters


def describe_hydra_error(err: HydraException) -> str:
    """One line for a composition error, from the OmegaConf error underneath when there is one."""
    ambiguous = describe_ambiguous_value(str(err))
    if ambiguous:
        return ambiguous
    cause = err.__cause__
    if isinstance(cause, (ConfigKeyError, ConfigAttributeError)) and "not in struct" in str(cause):
        return unknown_key(cause.full_key)
    if isinstance(cause, OmegaConfBaseException):
        override = re.search(r"override '([^']+)'", str(err))
        detail = describe_omegaconf_error(cause)
        return f"{detail} (in override '{override.group(1)}')" if override else detail
    message = str(err)
    found = re.search(r"Could not override '([^']+)'", message)
    if found:
        return unknown_key(found.group(1))
    return first_line(message)


def describe_omegaconf_error(err: OmegaConfBaseException) -> str:
    """'unknown config key ...' or '<key>: <what is wrong>' from an OmegaConf error."""
    key = getattr(err, "full_key", None) or ""
    first = first_line(str(err))
    if "not in struct" in first:
        return f"unknown config key '{key}'" if key else first
    if "Missing mandatory value" in first:
        return f"config key '{key}' must be set" if key else first
    return f"config key '{key}': {first}" if key else first
