print("galen")
