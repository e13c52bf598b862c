"""Preflight of a new hardware runner: can the suite run here, and with which command?

    python -m ci.doctor --backend torch_npu|aclnn [--product P] [--devices SPEC]
                        [--backend-option K=V ...] [--spec-profile NAME] [--recovery-timeout S]

One line per check (fixtures/preflight.py): the devices under the lease (count, ascending logical
ids, enough for the product's smallest world), torch, the backend module's own `preflight()`
(torch_npu: torch_npu and its operator, the task-queue settings, SoC against the product, device
count; aclnn: its CANN paths, kernels and symbols, the driver, device count and SoC, which
fixtures/aclnn.py exports from fixtures/acl/host.py; a module without one gets a warning), then on
real ranks: one valid case and one known rejection (group length 128, 161002 on every product)
on the smallest legal world (ep 2 where the contract allows it; neither product does today), a
world killed on purpose and the time until its devices accept a new world (the back-off the pool
needs after a fault), and the exact `pytest suites ...` command to run.

A backend module may also offer, for the doctor only: `device_count(env) -> int | None` (how many
devices the runtime shows a process without ASCEND_RT_VISIBLE_DEVICES; else /dev/davinci* is
counted), `soc_name(env) -> str | None` (to infer the product when --product is not given) and
`devices_ready(env, count) -> str` (a throw-away process that sets the devices; empty when it
could: the recovery probe, which then starts one world; aclnn's, like its preflight, come from
fixtures/acl/host.py). Each of these and `preflight` is called with the backend options the module
declares in `OPTIONS` as keywords (aclnn: lib_dir, the CANN it checks), so the doctor checks the
installation the suite would load.

Exit status: 0 the suite can run here, 1 it cannot (a FAIL line says why and how to fix it),
2 bad input.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import signal
import sys
import time
from collections.abc import Mapping
from importlib import metadata
from types import ModuleType

import ops
from ci import _cli
from fixtures import devices as devmod
from fixtures.backends import BackendError, BackendSpec, declared_options, parse_options
from fixtures.preflight import Check
from spec.operator import Operator
from spec.products import PRODUCTS
from spec.profiles import ProfileError

BACKENDS = ("torch_npu", "aclnn")


def parser() -> _cli.Parser:
    p = _cli.Parser(prog="python -m ci.doctor",
                    description=" ".join(__doc__.split("\n\n")[0].split()),
                    epilog="Exit status: 0 the suite can run here, 1 it cannot, 2 bad input.")
    p.add_argument("--backend", required=True, choices=BACKENDS)
    p.add_argument("--operator", default=None,
                   help="the operator whose backend to check (default: the first registered)")
    p.add_argument("--product", choices=PRODUCTS, default=None,
                   help="the product of this host (default: from the SoC the backend reports)")
    p.add_argument("--devices", default=None, metavar="SPEC",
                   help="the NPUs to lease, logical ids ascending, e.g. 0-7 (default: "
                        "ASCEND_RT_VISIBLE_DEVICES, else every device)")
    p.add_argument("--backend-option", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--spec-profile", default=None,
                   help="the profile of the suite command (default: the newest shipped one)")
    p.add_argument("--recovery-timeout", type=float, default=300.0, metavar="SECONDS",
                   help="how long to wait for killed devices to accept a new world")
    p.add_argument("--case-timeout", type=float, default=180.0, metavar="SECONDS")
    return p


class Hooks:
    """A backend module as the doctor reads it: its optional functions with the backend options
    it declares (`OPTIONS`) bound as keywords, every other attribute as it is."""

    NAMES = ("preflight", "device_count", "soc_name", "devices_ready")

    def __init__(self, module: ModuleType, options: Mapping[str, object]) -> None:
        self.module = module
        self.options = declared_options(module, dict(options))

    def __getattr__(self, name: str) -> object:
        value = getattr(self.module, name)
        if name in self.NAMES and callable(value):
            return functools.partial(value, **self.options)
        return value


def default_profile(op: Operator) -> str:
    shipped = [n for n in op.profiles() if op.profile(n).kind == "shipped"]
    return sorted(shipped)[-1] if shipped else "doc"


def device_checks(op: Operator, module: Hooks, env: Mapping[str, str], option: str | None,
                  product: str | None) -> tuple[list[Check], tuple[int, ...]]:
    """The lease against what the runtime sees: ascending logical ids, enough of them."""
    source = "--devices" if option else devmod.VISIBLE
    text = option or env.get(devmod.VISIBLE, "").strip()
    bare = {k: v for k, v in env.items() if k != devmod.VISIBLE}
    counter = getattr(module, "device_count", None)
    total = counter(bare) if callable(counter) else None
    if total is None:
        found = devmod.discover(None, bare, hardware=True)
        total = len(found) if found else None
    if not text:
        if total is None:
            return [Check("devices", False, "no device found (no /dev/davinci*, and the backend "
                          "cannot count them)", "name them: --devices 0-7")], ()
        ids = tuple(range(total))
    else:
        try:
            ids = tuple(int(x) for x in text.split(",")) if source == devmod.VISIBLE else \
                devmod.parse_devices(text)
        except ValueError:
            return [Check("devices", False, f"{source}={text!r} does not read as device ids",
                          "a comma-separated list of logical ids, ascending, e.g. 0,1,2,3")], ()
    checks = []
    if list(ids) != sorted(set(ids)):
        kept = []
        for d in ids:
            if kept and d <= kept[-1]:
                break
            kept.append(d)
        checks.append(Check("devices", False, f"{source}={text} is not ascending: the runtime keeps "
                            f"only {','.join(map(str, kept))} and drops the rest silently",
                            f"list them in ascending order: {','.join(map(str, sorted(set(ids))))}"))
    elif total is not None and ids and max(ids) >= total:
        checks.append(Check("devices", False, f"{source}={text} names id {max(ids)}, but the "
                            f"runtime sees {total} device(s): ids are logical, 0..{total - 1} (in a "
                            "container /dev/davinciN keep their physical numbers)",
                            f"use logical ids below {total}, e.g. --devices 0-{total - 1}"))
    if checks:
        return checks, ()
    need = min(op.world_sizes(product)) if product else 1
    of = f"{total}" if total is not None else "an unknown number of"
    if len(ids) < need:
        return [Check("devices", False, f"{len(ids)} device(s) leased, the smallest world of "
                      f"{product} is {need}", f"lease at least {need} devices (--devices "
                      f"0-{need - 1}) on a host that has them")], ids
    return [Check("devices", True, f"{len(ids)} device(s) leased ({devmod.format_devices(ids)}) "
                  f"of {of} visible to the runtime, ascending logical ids")], ids


def run_case(world: object, backend: object, case: object, profile: object):
    """One case on `world`, planned and summarised as the suite does."""
    from fixtures.protocol import capabilities
    from fixtures.runner import CaseResult, plan_case, summarise

    two_stage = bool(getattr(backend, "two_stage", True))
    exp, plan, why = plan_case(case, profile, capabilities(backend), "mixed", True, two_stage)
    if plan is None:
        return CaseResult(case, exp, "not_applicable", reason=why)
    start = time.perf_counter()
    return summarise(case, exp, world.run(plan), plan, time.perf_counter() - start)


def _why(result: object) -> str:
    if result.outcome == "not_applicable":
        return f"not applicable: {result.reason}"
    first = result.findings[0].message.splitlines()[0] if result.findings else "?"
    return f"{result.outcome}: {first[:300]}"


def world_checks(spec: BackendSpec, module: Hooks, product: str, profile: object,
                 lease: tuple[int, ...], case_timeout: float, recovery_timeout: float
                 ) -> list[Check]:
    """One valid case, one known rejection, then a killed world and its devices' recovery."""
    from fixtures.pool import ProcessWorld
    from spec.expect import expect_case
    from strategies import intended

    legal = profile.operator.world_sizes(product)
    ep = 2 if 2 in legal else min(legal)
    where = (f"ep {ep} on devices {devmod.format_devices(lease[:ep])}"
             + ("" if ep == 2 else f" (the smallest world {product} allows; it has no ep 2)"))
    valid, reject = profile.operator.part("strategies").doctor_cases(product, ep, profile)
    assert intended(valid, profile) is None and expect_case(reject, profile).outcome == "reject"
    env = {devmod.VISIBLE: devmod.format_devices(lease[:ep])}
    backend = spec.make()

    def world() -> ProcessWorld:
        return ProcessWorld(ep, spec, case_timeout, attach="", leaser=None, env=env,
                            product=product)

    checks: list[Check] = []
    w = world()
    try:
        ok = run_case(w, backend, valid, profile)
        checks.append(Check("valid case", ok.passed, f"{where}: {'passed' if ok.passed else _why(ok)}",
                            "read the rank logs (CONFORMANCE_RANK_LOGS=DIR keeps them)"))
        before = w.restarts
        no = run_case(w, backend, reject, profile)
        statuses = sorted({r.status2 if r.status2 is not None else r.status1 for r in no.reports})
        want = sorted({s for s in expect_case(reject, profile).status1 if s})
        exact = no.passed and statuses == want
        checks.append(Check("known rejection", exact, f"{reject.clause}: status "
                            f"{'/'.join(map(str, statuses)) or '-'}" + ("" if exact else
                            f" ({_why(no)})"), "the status must parse from the runtime's "
                            "message: see the task-queue line above"))
        if exact and w.restarts > before:
            pins = ", ".join(f"{k}={v}" if v is not None else f"{k} unset"
                             for k, v in getattr(module, "RANK_ENV", {}).items())
            checks.append(Check("synchronous status", False, "the rejection's status surfaced "
                                "only after the call and the world had to restart: the ranks "
                                "do not run with the pinned environment" + (f" ({pins})" if pins
                                                                           else ""),
                                f"give the ranks {pins or 'the backend RANK_ENV'}: export it here "
                                "(and before torchrun for an attached world)"))
        pids = list(w.pids)
    finally:
        for pid in w.pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        w.close(graceful=False)
    probe_env = {**os.environ, **env}
    checks.append(recovery_check(world, module, backend, reject, profile, probe_env, pids, killed,
                                 recovery_timeout))
    return checks


def recovery_check(world, module: Hooks, backend: object, case: object, profile: object,
                   env: Mapping[str, str], pids: list[int], killed: float, limit: float) -> Check:
    """How long after a SIGKILL the devices accept a new world: probed by a throw-away process
    per attempt where the backend module offers `devices_ready(env, count)` (a failed world
    start would kill healthy ranks and poison their devices again), then one world that runs a
    case."""
    ready = getattr(module, "devices_ready", None)
    attempts, last = 0, ""
    while True:
        attempts += 1
        last = ready(env, len(pids)) if callable(ready) else ""
        if not last:
            w = world()
            try:
                result = run_case(w, backend, case, profile)
            finally:
                w.close()
            last = "" if result.passed else _why(result)
        waited = time.monotonic() - killed
        if not last:
            return Check("recovery after a kill", True, f"the devices accepted a new world within "
                         f"{waited:.1f} s after its ranks {pids} were killed ({attempts} "
                         "attempt(s)); wait at least that long before restarting after a fault")
        if waited > limit:
            return Check("recovery after a kill", False, f"the devices did not accept a new world "
                         f"within {limit:g} s of the kill ({attempts} attempts; last: {last})",
                         "reset the devices (npu-smi set -t reset) or raise --recovery-timeout")
        time.sleep(1.0)


def suite_command(backend: str, product: str, profile: str, lease: tuple[int, ...],
                  options: list[str], operator: str | None = None) -> str:
    """The suite's command for this host: of the operator the doctor checked, when it was
    named (its profile is that operator's)."""
    opts = "".join(f" --backend-option {o}" for o in options)
    only = f" --operator {operator}" if operator else ""
    return (f"python -m pytest suites{only} --backend {backend} --product {product} "
            f"--spec-profile {profile} --devices {devmod.format_devices(lease)}{opts}")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        op = ops.select(args.operator)[0]
        spec = BackendSpec(args.backend, parse_options(args.backend_option), op.name, op.home)
        module = Hooks(importlib.import_module(spec.target.partition(":")[0]), spec.options)
        profile_name = args.spec_profile or default_profile(op)
        profile = op.profile(profile_name)
        if args.devices:
            devmod.parse_devices(args.devices)
    except (BackendError, ProfileError, devmod.DeviceSpecError, ValueError) as err:
        return _cli.usage("python -m ci.doctor", err)
    env = dict(os.environ)
    if args.devices:
        env[devmod.VISIBLE] = devmod.format_devices(devmod.parse_devices(args.devices))
    try:
        spec.make()
        checks = [Check("backend", True, f"{spec.describe()} builds")]
    except BackendError as err:
        checks = [Check("backend", False, str(err), "fix the backend options or the environment "
                        "they point at")]
    try:
        torch_version = metadata.version("torch")
        checks.append(Check("torch", True, f"torch {torch_version} installed"))
    except metadata.PackageNotFoundError:
        checks.append(Check("torch", False, "torch is not installed", "pip install torch"))
    own = getattr(module, "preflight", None)
    if callable(own):
        checks += own(args.product, env)
    else:
        checks.append(Check(f"{args.backend} preflight", False, f"{module.__name__} defines no "
                            "preflight(product, env): its libraries, ASCEND_OPP_PATH, kernel "
                            "binaries, driver libraries and operator symbols are not checked",
                            "the valid case below is the only evidence", blocking=False))
    product = args.product
    if product is None:
        from spec.products import product_of_soc

        read = getattr(module, "soc_name", None)
        product = product_of_soc(read(env) or "") if callable(read) else None
        if product is None:
            checks.append(Check("product", False, "no --product, and the SoC does not name one",
                                f"pass --product ({' or '.join(PRODUCTS)})"))
    more, lease = device_checks(op, module, env, args.devices, product)
    checks += more
    if not any(c.blocking and not c.ok for c in checks):
        checks += world_checks(spec, module, product, profile, lease, args.case_timeout,
                               args.recovery_timeout)
    else:
        checks.append(Check("cases on real ranks", False, "not run: fix the FAIL lines above first",
                            blocking=False))
    for check in checks:
        print(check.line())
    if any(c.blocking and not c.ok for c in checks):
        print("the suite cannot run here: fix the FAIL lines above, then run python -m ci.doctor "
              "again")
        return _cli.FAILED
    print("run: " + suite_command(args.backend, product, profile_name, lease,
                                  args.backend_option, op.name if args.operator else None))
    return _cli.OK


if __name__ == "__main__":
    sys.exit(main())
