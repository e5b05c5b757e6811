"""Phishing awareness by doing: simulated phishing through Clocher's own mail, a lesson at
the moment of the mistake, a rewarded report, a difficulty that follows each agent."""
