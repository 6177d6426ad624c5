"""placeholder"""
def run(argv):
    return 0
