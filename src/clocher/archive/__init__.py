"""Probative archiving of a commune's acts: seals, journal, time-stamps, SEDA export."""
