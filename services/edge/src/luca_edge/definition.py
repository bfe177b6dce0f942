"""What the authorizer publishes to whoever deploys it: the names of its context's keys.

API Gateway hands them to the integrations as ``$context.authorizer.<key>``: the burst path's
templates read the school and the student there, and the access log the school. The CDK app imports
these names, so a renamed key changes the templates with it.
"""

from __future__ import annotations

SCHOOL_KEY = "school_id"
STUDENT_KEY = "student_id"
ROLES_KEY = "roles"
SUBJECT_KEY = "sub"
USERNAME_KEY = "username"
# The Lambda's handler, as the image's CMD names it.
HANDLER = "luca_edge.entrypoints.authorizer.handler"
