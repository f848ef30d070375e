# -*- coding: utf-8 -*-
# Copyright: Ananta Platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A module run with live progress: the module runs in the background on the target (Ansible's
own async wrapper) and appends JSON lines to a progress file (``module_utils/_progress.py``);
this action prints them on the controller as they come, read directly when the target is this
machine as this user, else with shell commands over the task's connection. The lines reach an
AWX job's output as any display line does. A run interrupted on the controller (SIGINT or
SIGTERM: Ctrl-C, a cancelled AWX job) writes the module's abort file, so that the work left in
the background stops at once. A task with ``async`` of its own, check mode, a run whose stdout
callback writes JSON (``json``, ``jsonl``) and what a subclass says needs no progress run the
module as any module; ``ananta_live_progress=false`` too."""

from __future__ import annotations

import os
import shlex
import signal
import time
import uuid

from ansible import constants as C
from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible.utils.vars import merge_hash
from ansible.vars.clean import remove_internal_keys

from ansible_collections.ananta.platform.plugins.module_utils._progress import format_event, parse_lines

display = Display()

# The start's own deadlines (each service's readiness budget, each step's timeouts) end it
# long before this; the async wrapper kills a run that outlives it.
LIVE_LIMIT = 7200
MARK = "--ananta-platform-results--"


def machine_output():
    """Whether the run's output is for a program (the json or jsonl stdout callbacks): text lines
    there would break it, so the module runs as any module."""
    callback = str(C.config.get_config_value("DEFAULT_STDOUT_CALLBACK") or "")
    return callback.rsplit(".", maxsplit=1)[-1] in ("json", "jsonl")


class LiveAction(ActionBase):
    """Subclasses say when a run reports live (``wants_live``); the module takes the options
    ``progress_file`` and ``abort_file``."""

    _supports_check_mode = True
    _supports_async = True

    def wants_live(self, args):  # pylint: disable=unused-argument
        return True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = self._task.args
        live = (not self._task.async_val and not self._play_context.check_mode and self.wants_live(args)
                and not machine_output()
                and str(self._templar.template((task_vars or {}).get("ananta_live_progress", True))).lower()
                not in ("false", "no", "0", "off"))
        if not live:
            wrap_async = bool(self._task.async_val) and not self._connection.has_native_async
            result = merge_hash(result, self._execute_module(task_vars=task_vars, wrap_async=wrap_async))
            if not wrap_async:
                self._remove_tmp_path(self._connection._shell.tmpdir)
            return result
        return merge_hash(result, self._run_live(args, task_vars or {}))

    # -- where the files are, read and written on the target --------------------------------

    def _local(self):
        """The module runs on this machine as this user: its files are read directly."""
        return getattr(self._connection, "transport", "") == "local" and not self._play_context.become

    def _read(self, path, offset=0):
        with open(path, "rb") as handle:
            handle.seek(offset)
            return handle.read().decode("utf-8", "replace")

    def _poll(self, progress, offset, results):
        """New progress since ``offset`` and the results file's text (empty while absent)."""
        if self._local():
            text = ""
            try:
                text = self._read(progress, offset)
            except OSError:
                pass
            try:
                return text, self._read(results)
            except OSError:
                return text, ""
        cmd = "tail -c +%d %s 2>/dev/null; printf '\\n%s\\n'; cat %s 2>/dev/null; true" % (
            offset + 1, shlex.quote(progress), MARK, shlex.quote(results))
        res = self._low_level_execute_command(cmd, sudoable=True)
        out = res.get("stdout", "")
        text, _sep, rest = out.rpartition("\n%s\n" % MARK)
        return text, rest

    def _write_abort(self, path, message):
        try:
            if self._local():
                with open(path, "w", encoding="utf-8") as handle:
                    handle.write(message)
            else:
                self._low_level_execute_command("printf '%%s' %s > %s" % (shlex.quote(message), shlex.quote(path)),
                                                sudoable=True)
        except Exception:  # pylint: disable=broad-except  # best effort while the controller goes down
            pass

    def _remove(self, *paths):
        try:
            if self._local():
                for path in paths:
                    try:
                        os.remove(path)
                    except OSError:
                        pass
            else:
                self._low_level_execute_command("rm -f %s" % " ".join(shlex.quote(p) for p in paths), sudoable=True)
        except Exception:  # pylint: disable=broad-except  # leftovers in the async dir harm nothing
            pass

    # -- the run ------------------------------------------------------------------------------

    def _show(self, host, records):
        for record in records:
            line = "%s %s" % (host, format_event(record))
            if record.get("event") == "waits":
                display.v(line)
            else:
                display.display(line)

    def _run_live(self, args, task_vars):
        async_dir = self.get_shell_option("async_dir", default="~/.ansible_async")
        async_dir = os.path.expanduser(async_dir) if self._local() else self._remote_expand_user(async_dir)
        token = uuid.uuid4().hex
        progress = self._connection._shell.join_path(async_dir, "ananta-%s.progress" % token)
        own_abort = not args.get("abort_file")
        abort = args.get("abort_file") or self._connection._shell.join_path(async_dir, "ananta-%s.abort" % token)
        module_args = dict(args, progress_file=progress, abort_file=abort)
        host = task_vars.get("inventory_hostname", "")

        self._task.async_val = LIVE_LIMIT
        try:
            started = self._execute_module(module_args=module_args, task_vars=task_vars, wrap_async=True)
        finally:
            self._task.async_val = 0
        if started.get("failed") or not started.get("ansible_job_id"):
            return started
        results = started.get("results_file") or self._connection._shell.join_path(async_dir, started["ansible_job_id"])

        def interrupted(signum, frame):
            self._write_abort(abort, "the run was interrupted on the controller (%s)" % signal.Signals(signum).name)
            handler = previous.get(signum)
            if callable(handler):
                handler(signum, frame)
            raise KeyboardInterrupt()

        previous = {}
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                previous[signum] = signal.signal(signum, interrupted)
            except ValueError:  # not the main thread: no handler, the abort file is written on errors only
                pass
        interval = 0.1 if self._local() else 0.5
        offset, pending = 0, ""
        try:
            while True:
                text, outcome = self._poll(progress, offset, results)
                offset += len(text.encode("utf-8"))
                records, pending = parse_lines(pending + text)
                self._show(host, records)
                data = self._finished(outcome)
                if data is not None:
                    text, _outcome = self._poll(progress, offset, results)
                    records, pending = parse_lines(pending + text + "\n")
                    self._show(host, records)
                    break
                time.sleep(interval)
        except BaseException as exc:
            self._write_abort(abort, "the run's controller stopped following it: %s" % exc)
            if isinstance(exc, Exception) and not isinstance(exc, AnsibleError):
                raise AnsibleError("%s: lost the run in the background on %s: %s" % (self._task.action, host, exc)) from exc
            raise
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        self._remove(*([progress, results] + ([abort] if own_abort else [])))
        return data

    def _finished(self, outcome):
        """The module's result once the job is over, else None."""
        outcome = outcome.strip()
        if not outcome:
            return None
        parsed = self._parse_returned_data({"stdout": outcome, "stderr": "", "rc": 0}, "legacy")
        if parsed.get("started") and not parsed.get("failed") and "finished" in parsed and not parsed["finished"]:
            return None
        # (never a torn read: the async wrapper renames a complete file into place)
        remove_internal_keys(parsed)
        return parsed
