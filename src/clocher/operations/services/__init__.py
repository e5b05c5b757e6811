"""Operations services, by concern: keys (password, recovery kit), snapshot (backup),
restore (whole platform or one commune), drill (restore rehearsal), schedule."""
