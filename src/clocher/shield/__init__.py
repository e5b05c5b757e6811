"""The central side of the shield: boxes, enrolment, feeds, events, reports."""
