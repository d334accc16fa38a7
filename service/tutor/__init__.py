"""The practice tutor: a chat that decides what to look up (knowledge, the student's context,
recordings and their analysis) through typed tools run with the caller's own rights."""
