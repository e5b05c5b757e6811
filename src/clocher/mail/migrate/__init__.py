"""Bringing a commune's old mail in: IMAP accounts, mbox, Maildir, zips of .eml, PST."""
