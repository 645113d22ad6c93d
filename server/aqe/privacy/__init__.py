"""Privacy: the network guard for strict mode, secret redaction, and the audit log.

The modes themselves are enforced by the router (aqe.llm.router) and the factory (aqe.llm.factory):
strict builds no cloud client at all; balanced and off redact everything that leaves the machine.
"""
