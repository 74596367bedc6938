"""Domain tools: the project's own business actions, as tools of the one pipeline.

    from ormai_django import agent_tool

    @agent_tool(name="billing.refund_invoice", input=RefundInput,
                description="Refund part of an invoice.", writes=["acme.Invoice"])
    def refund_invoice(call): ...

``declarations`` (``agent_tool``, imported by projects, light: no models, no pipeline),
``schema`` (a serializer as JSON Schema), ``call`` (what the function receives),
``capture`` (every row it changes, seen and recorded), ``operation`` (the write pipeline's
phases for a domain tool), ``handler`` (the registry's entry point). See
docs/domain-tools.md.
"""
