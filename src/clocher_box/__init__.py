"""The Clocher box agent: blocks intrusions at a town hall's network edge.

It imports nothing of Django: `pip install .[box]` on the box is all it needs, plus
Debian's nftables (libnftables1) in the kernel's user space.
"""

__version__ = "0.1.0"
