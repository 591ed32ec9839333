"""Who is due and overdue (lists over the enrollments' coverage snapshot) and the reminder
messages that tell members so (an outbox with a pluggable sender)."""
