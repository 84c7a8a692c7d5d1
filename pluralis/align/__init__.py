"""Alignment: fine-tune or steer models on a group's feedback and measure whose preferences they learned."""
