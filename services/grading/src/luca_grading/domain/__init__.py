"""The grading domain in the school's language: plain Python, no AWS, HTTP or protobuf."""
