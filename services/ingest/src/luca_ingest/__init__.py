"""The burst path's grade processor: students' events from the queue, graded and stored in batches."""
