"""Label orders in ListTasks -- a pure rule.

In Clarifai a *label order* (a request for Clarifai's labeling workforce) creates tasks of its own;
``ListTasks`` leaves those out unless ``including_label_order_tasks`` is true. labeldesk has no
label orders (the LabelOrders RPCs are not served), so no task belongs to one: a task's
``label_order_id`` is a field a client may set and ListTasks may filter on (``label_order_ids``), not a
sign that a label order made the task.
"""

from __future__ import annotations


def listed(made_by_label_order: bool, including_label_order_tasks: bool) -> bool:
    """Whether ListTasks lists a task: tasks made by a label order only when asked for."""
    return including_label_order_tasks or not made_by_label_order


def made_by_label_order(label_order_id: str) -> bool:
    """Whether a labeldesk task was made by a label order: never (there are none); a
    ``label_order_id`` the client set does not make it one."""
    del label_order_id
    return False
