"""Pure business rules and types shared by workflows, activities and the API. No I/O here."""
