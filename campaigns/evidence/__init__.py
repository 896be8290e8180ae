"""Evidence packets: signed, self-checking ZIPs of one campaign's evidence.

``service`` builds them (Celery task or foreground), ``verify`` checks them without a
database, and the other modules each write one part of the packet.
"""
