"""Projects: who may do what with a PDF, and checking what was uploaded."""
