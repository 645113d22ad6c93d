"""Learning the team's standards: the feedback log, posteriors, exported state."""
