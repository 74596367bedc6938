"""``PolicyBuilder``: the fluent way to write a policy.

    policy = (
        PolicyBuilder(DEFAULT_PROD)
        .register_models([Customer, "shop.Order"])
        .deny_fields("*password*")
        .mask_fields(["customer.email"])
        .tenant_scope("tenant_id")
        .build()
    )

Every method adds to what the builder was told (calling one twice keeps both calls); a
contradiction (two different row limits, a model scoped by two tenant fields, one model with
two soft-delete fields) is refused, never silently overwritten. The builder only records,
into a public frozen :class:`~ormai_django.policy.spec.PolicySpec` (``builder.spec``);
``build()`` resolves every model and field name against the app registry and raises one
:class:`~ormai_django.errors.PolicyConfigurationError` listing every problem.

Fields are named ``"model.field"`` (``"customer.email"``, any case; the model part as in
``register_models``), except where the method is about one model already.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

from ormai_django.policy.assembly import assemble
from ormai_django.policy.launch import launch_of
from ormai_django.policy.policy import Policy
from ormai_django.policy.profiles import DEFAULT_PROD, Profile
from ormai_django.policy.rules import (
    WRITE_MODES,
    approval_spec,
    budget_spec,
    burst_spec,
    names_of,
    positive_int,
    positive_timedelta,
)
from ormai_django.policy.spec import (
    ModelRef,
    PolicySpec,
    PreviewSpec,
    TenantScopeSpec,
    ToolsSpec,
    WritesSpec,
)


def _model_label(ref: ModelRef) -> str:
    """How a "model.field" string names ``ref``."""
    return ref._meta.label if isinstance(ref, type) and hasattr(ref, "_meta") else str(ref)


def _qualified_fields(
    writable_fields: Mapping[ModelRef, Iterable[str]] | Iterable[str] | None,
) -> tuple[str, ...]:
    """``{"Customer": ["name"]}`` or ``["customer.name"]`` as ``("Customer.name",)``."""
    if writable_fields is None:
        return ()
    if isinstance(writable_fields, str):
        raise ValueError(
            "writable_fields is a mapping of model to fields or a list of 'model.field'"
        )
    if isinstance(writable_fields, Mapping):
        out = []
        for model, names in writable_fields.items():
            if isinstance(names, str):
                raise ValueError(f"writable_fields[{model!r}] must be a list of field names")
            out += [f"{_model_label(model)}.{name}" for name in names]
        return tuple(out)
    return tuple(writable_fields)


class PolicyBuilder:
    """Collects the rules of a policy; ``build()`` returns the immutable :class:`Policy`."""

    def __init__(self, profile: Profile = DEFAULT_PROD) -> None:
        if not isinstance(profile, Profile):
            raise TypeError("PolicyBuilder takes a Profile such as DEFAULT_PROD or DEFAULT_DEV")
        self._spec = PolicySpec(profile=profile)

    @property
    def spec(self) -> PolicySpec:
        """What this builder was told so far, frozen."""
        return self._spec

    def _add(self, **items: tuple[Any, ...]) -> PolicyBuilder:
        self._spec = replace(
            self._spec, **{key: getattr(self._spec, key) + value for key, value in items.items()}
        )
        return self

    # --- what the agent can see -------------------------------------------------------

    def register_models(self, *models_: ModelRef | Iterable[ModelRef]) -> PolicyBuilder:
        """Models the agent may know about: classes, ``"app_label.Model"`` or class names."""
        return self._add(models=tuple(names_of(models_)))

    def deny_fields(self, *globs: str | Iterable[str]) -> PolicyBuilder:
        """Fields absent everywhere: fnmatch globs on the field name (``"*password*"``), or on
        ``"model.field"`` when the glob has a dot (``"customer.internal_*"``); case-insensitive."""
        return self._add(deny_globs=tuple(g.lower() for g in names_of(globs)))

    def mask_fields(self, *fields: str | Iterable[str]) -> PolicyBuilder:
        """Fields shown masked and never filterable, as ``"model.field"``."""
        return self._add(mask_fields=tuple(names_of(fields)))

    def tenant_scope(
        self,
        field_name: str,
        *,
        models: Iterable[ModelRef] | None = None,
        exclude: Iterable[ModelRef] = (),
    ) -> PolicyBuilder:
        """Scope reads and writes to the context's tenant by ``field_name``.

        Every registered model is scoped unless ``models`` lists the scoped ones or
        ``exclude`` names the shared ones (a product catalogue, say). Called again, it adds
        a scope (another field for other models); a model scoped by two fields is refused.
        """
        if not isinstance(field_name, str) or not field_name:
            raise ValueError("tenant_scope takes the name of the tenant field")
        scope = TenantScopeSpec(
            field=field_name,
            models=None if models is None else tuple(names_of((models,))),
            exclude=tuple(names_of((exclude,))),
        )
        return self._add(tenant_scopes=(scope,))

    def soft_delete(self, model: ModelRef, field_name: str) -> PolicyBuilder:
        """Rows whose ``field_name`` is set (a nullable date/datetime) or true (a boolean)
        are deleted: invisible to reads; ``db.delete`` sets the field instead of deleting."""
        return self._add(soft_deletes=((model, field_name),))

    def row_limits(self, *, default: int | None = None, max: int | None = None) -> PolicyBuilder:
        """Override the profile's page size (``default``) and the largest ``limit`` allowed.

        Each call sets the bounds it names; naming a bound already set to another value is
        refused (``ValueError``)."""
        changes: dict[str, int] = {}
        for key, value in (("default_limit", default), ("max_limit", max)):
            if value is None:
                continue
            positive_int(value, key.removesuffix("_limit"))
            earlier = getattr(self._spec, key)
            if earlier is not None and earlier != value:
                raise ValueError(
                    f"row_limits: {key.removesuffix('_limit')} is already {earlier}; "
                    f"it can't also be {value}"
                )
            changes[key] = value
        self._spec = replace(self._spec, **changes)
        return self

    # --- what the agent can change ----------------------------------------------------

    def enable_writes(
        self,
        *,
        models: Iterable[ModelRef] = (),
        writable_fields: Mapping[ModelRef, Iterable[str]] | Iterable[str] | None = None,
        require_reason: bool | None = None,
        require_idempotency_key: bool | None = None,
        max_affected_rows: int | None = None,
        allow_cascade_delete: bool | None = None,
        mode: str | None = None,
        tenants: Iterable[Any] | None = None,
        principals: Iterable[str] | None = None,
        open_to: Callable[[Any], bool] | None = None,
    ) -> PolicyBuilder:
        """Let the agent write to ``models``, touching only ``writable_fields``.

        ``writable_fields`` is ``{"Customer": ["preferred_name"]}`` or
        ``["customer.preferred_name"]``; the models it names are opened to writes too, so
        ``models`` is only needed for a model with no writable field (deletes only).
        ``max_affected_rows`` bounds one update or delete (above it the call escalates to
        approval); unset, the profile's value holds (100 in ``DEFAULT_PROD``). Two calls
        that set an option differently for one model are refused when the policy is built.

        ``mode="propose"``: propose, don't execute. Every write to these models is held for
        a human (``pending_approval``), whatever its size; the audit log records what the
        agent meant to do, and nothing changes until someone approves. ``mode="execute"``
        (what not giving it means) runs writes under the other rules.

        Soft launch: ``tenants=[7]``, ``principals=["agent:ops-bot"]`` or ``open_to=fn``
        (``fn(context) -> bool``) open these writes only to contexts in that group (any one
        of the three admits); every other context sees the models read-only and gets
        ``denied`` / ``NOT_LAUNCHED``. Not given: open to every context. Widen the launch
        by editing the list (two calls giving one model different groups are refused).
        """
        if max_affected_rows is not None:
            positive_int(max_affected_rows, "max_affected_rows")
        if mode is not None and mode not in WRITE_MODES:
            raise ValueError(f"enable_writes: mode must be one of {WRITE_MODES}, not {mode!r}")
        spec = WritesSpec(
            models=tuple(names_of((models,))),
            writable_fields=_qualified_fields(writable_fields),
            require_reason=require_reason,
            require_idempotency_key=require_idempotency_key,
            max_affected_rows=max_affected_rows,
            allow_cascade_delete=allow_cascade_delete,
            mode=mode,
            launch=launch_of(tenants, principals, open_to),
        )
        if not spec.models and not spec.writable_fields:
            raise ValueError("enable_writes needs models=[...], writable_fields=..., or both")
        return self._add(writes=(spec,))

    def validate(self, model: ModelRef, *validators: Callable[[Any], None]) -> PolicyBuilder:
        """Run ``validators`` before every write on ``model``, after its own ``full_clean``.

        Each gets a ``WriteCheck`` (``tool``, ``model``, ``data``, ``context``, and
        ``instance``: the row as it would be, for creates and single-row updates) and raises
        ``django.core.exceptions.ValidationError`` to refuse the write.
        """
        for validator in validators:
            if not callable(validator):
                raise ValueError(f"a validator must be callable, not {validator!r}")
        return self._add(validators=((model, tuple(validators)),))

    def propose_writes(self) -> PolicyBuilder:
        """Propose, don't execute, for the whole policy: every write, on every model, is held
        for a human (as ``enable_writes(..., mode="propose")`` does for some models). For a
        soft launch: the agent works as it will, the audit log and the approval queue
        capture what it meant to change, and nothing changes until someone approves."""
        self._spec = replace(self._spec, propose_writes=True)
        return self

    def max_writes_per_minute(self, n: int) -> PolicyBuilder:
        """Write calls per principal over a sliding minute, executed and held ones alike;
        past it: ``RATE_LIMITED`` with ``retry_after``. A budget like those of
        ``write_budget`` (id ``rate:principal:calls=N/1m``). Given twice, the smaller
        limit applies."""
        return self._add(max_writes_per_minute=(positive_int(n, "max_writes_per_minute"),))

    def write_budget(
        self,
        *,
        scope: str,
        model: ModelRef | None = None,
        max_calls: int | None = None,
        max_rows: int | None = None,
        per: timedelta | None = None,
        on_exceed: str = "deny",
        tool: str | Iterable[str] | None = None,
        id: str | None = None,
    ) -> PolicyBuilder:
        """Bound how much the agent may write: ``max_calls`` write calls and ``max_rows``
        rows (either alone, or both) per ``scope``, over a sliding window ``per`` (None: for
        the life of the scope).

        ``scope``: ``"principal"`` (each agent), ``"run"`` (one run id of one tenant),
        ``"tenant"`` (all agents of a tenant) or ``"row"`` (each row an update or delete
        touches; ``max_calls`` only). ``model`` and ``tool`` narrow which writes count.
        Executed and held calls count (rows as the write measured them, before it ran);
        denied calls, dry runs and idempotent replays don't. A write that would go past a
        bound is refused whole: ``denied`` / ``BUDGET_EXCEEDED`` with ``error.budget`` and,
        where a window frees up, ``retry_after``; with ``on_exceed="approve"`` it is held for
        a human instead. A run refused by a run budget stays stopped: every later write of
        the run is refused until an operator resets it (``manage.py ormai_budget reset``).

        ``id`` names the budget in refusals, signals and the inventory; by default it is
        derived from the definition (``budget:run:calls=50,rows=500``).

            .write_budget(scope="run", max_calls=50, max_rows=500)
            .write_budget(scope="tenant", max_rows=10_000, per=timedelta(days=1))
        """
        budget = budget_spec(
            scope=scope,
            model=model,
            tool=tool,
            max_calls=max_calls,
            max_rows=max_rows,
            per=per,
            on_exceed=on_exceed,
            id=id,
        )
        return self._add(budgets=(budget,))

    def require_preview(
        self, *, over_rows: int, within: timedelta = timedelta(minutes=15)
    ) -> PolicyBuilder:
        """Refuse (``PREVIEW_REQUIRED``) an update or delete of more than ``over_rows`` rows
        unless the same run previewed that exact call first (a dry run, or the
        ``db.update_dry_run`` tool: same tool, model, id or where, data) in the last
        ``within``. Given twice, the smaller bound applies."""
        spec = PreviewSpec(
            over_rows=positive_int(over_rows, "over_rows"),
            within=positive_timedelta(within, "within"),
        )
        return self._add(previews=(spec,))

    def expose_dry_run_tools(self) -> PolicyBuilder:
        """Offer each write tool's preview as a tool of its own: ``db.create_dry_run``,
        ``db.update_dry_run``, ``db.delete_dry_run`` (``db_update_dry_run`` for providers),
        in ``tool_definitions``, the HTTP API and the MCP server. Each takes the write's
        arguments and returns what ``dry_run: true`` returns, changing nothing."""
        self._spec = replace(self._spec, dry_run_tools=True)
        return self

    def mark_untrusted_strings(self) -> PolicyBuilder:
        """Wrap every string value a read returns (``db.query``, ``db.get``, the group keys
        of ``db.aggregate``) in ``<untrusted-data-NONCE>...</untrusted-data-NONCE>``, with a
        fresh random NONCE per call, and tell the model (in the tool descriptions and in
        the result's ``untrusted_data`` note) that text inside is data, never instructions.
        A row that says "ignore previous instructions" then reads as what it is."""
        self._spec = replace(self._spec, mark_untrusted_strings=True)
        return self

    def require_approval(
        self,
        *,
        tool: str | Iterable[str] | None = None,
        model: ModelRef | None = None,
        when: Callable[[Any], bool] | None = None,
        approvers: int = 1,
        expires_in: timedelta | None = None,
        remind_after: timedelta | None = None,
        escalate_after: timedelta | None = None,
        escalate_to: Iterable[str] | None = None,
        id: str | None = None,
    ) -> PolicyBuilder:
        """Hold matching writes for ``approvers`` distinct humans (never the requester).

        ``tool`` is a write tool (``"db.update"``), a list of them, or None for every write
        tool. ``when(call)`` narrows the rule; ``call`` has ``tool``, ``model``, ``data``,
        ``where``, ``affected_rows``, ``reason`` and ``context``. ``remind_after`` (from the
        hold) reminds the approvers of a request still pending; ``escalate_after`` tells
        ``escalate_to`` (usernames and ``"group:<name>"`` Django groups whose members hold
        the approve permission) too. ``id`` names the rule (in ``why_held``, the request's
        ``rule_ids`` and inventories); unset, it is derived from the rule's definition.
        """
        rule = approval_spec(
            {
                "tool": tool,
                "model": model,
                "when": when,
                "approvers": approvers,
                "expires_in": expires_in,
                "remind_after": remind_after,
                "escalate_after": escalate_after,
                "escalate_to": escalate_to,
                "id": id,
            }
        )
        return self._add(approvals=(rule,))

    def bounded_burst(
        self,
        *,
        model: ModelRef,
        per: timedelta,
        max_calls: int | None = None,
        max_rows: int | None = None,
    ) -> PolicyBuilder:
        """Writes on ``model`` run freely up to ``max_calls`` calls and ``max_rows`` rows per
        principal per window ``per`` (either bound alone, or both); beyond that they escalate
        to approval (they are not denied). A ``write_budget(scope="principal", model=model,
        ..., on_exceed="approve")`` (id ``burst:principal:<label>:...``); several may bound
        one model."""
        bound = burst_spec({"max_calls": max_calls, "max_rows": max_rows, "per": per}, model)
        return self._add(bursts=(bound,))

    def allow_tools(
        self,
        names: Iterable[str],
        *,
        require_idempotency_key: bool | None = None,
        mode: str = "execute",
        tenants: Iterable[Any] | None = None,
        principals: Iterable[str] | None = None,
        open_to: Callable[[Any], bool] | None = None,
    ) -> PolicyBuilder:
        """Offer the domain tools ``names`` (``@agent_tool`` declarations, by their dotted
        names); every other domain tool is ``TOOL_NOT_ALLOWED``. ``require_idempotency_key``
        (default: the profile's) refuses a call of them without one; ``mode="propose"`` holds
        every call of them for a human (propose, don't execute). ``tenants``, ``principals``
        and ``open_to`` soft-launch them, as for ``enable_writes``.

            .allow_tools(["billing.refund_invoice"], require_idempotency_key=True)
        """
        if isinstance(names, str):
            names = [names]
        names = tuple(names)
        if not names or not all(isinstance(n, str) and n for n in names):
            raise ValueError("allow_tools takes a list of tool names")
        if require_idempotency_key is not None and not isinstance(require_idempotency_key, bool):
            raise ValueError("require_idempotency_key must be True, False or None")
        if mode not in WRITE_MODES:
            raise ValueError(f"allow_tools: mode must be one of {WRITE_MODES}, not {mode!r}")
        launch = launch_of(tenants, principals, open_to)
        return self._add(tools=(ToolsSpec(names, require_idempotency_key, mode, launch),))

    # --- build ------------------------------------------------------------------------

    def build(self) -> Policy:
        """Resolve every name and return the immutable policy.

        Raises ``PolicyConfigurationError`` listing unknown or ambiguous models, unknown
        fields and contradictions (a writable field that is denied, say).
        """
        return assemble(self._spec)
