"""The scripted support agent of ``python manage.py demo_agent``, act by act.

An act is a module with a function that returns its ``Step``s (``runner.Step``) from
the host's facts, and an entry in ``ACTS``. A step's call (and its narration) can be
a function of the run, to use what an earlier step returned (a ``next_cursor``, an
id, an ``approval_id``); a ``runner.HostAction`` is what a person does outside the
tools (an operator's command, a colleague's edit). To add an act, write its module and
list it here.
"""

from sandbox_project.shop.demo import acting, approving, reading, rolling_back, writing
from sandbox_project.shop.demo.runner import Act

# (title, steps builder), in story order.
ACTS: list[Act] = [
    ("Act 1: reading, inside the policy's lines", reading.read_steps),
    ("Act 2: writing, with the guard rails", writing.write_steps),
    ("Act 3: asking a human", approving.approval_steps),
    ("Act 4: rolling a bad write back", rolling_back.rollback_steps),
    ("Act 5: the shop's own actions", acting.acting_steps),
]
