"""Knowledge base: extraction, chunking, embedding and storage of teachers' and platform documents."""
