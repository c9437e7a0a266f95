"""The console's pure rules: who may open which page, how long a session lives, what a sign-in must prove."""
