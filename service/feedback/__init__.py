"""Practice feedback: a structured, cited report on an analysed recording, with a practice plan
fitted to the student's context; written from templates, or phrased by the configured LLM."""
