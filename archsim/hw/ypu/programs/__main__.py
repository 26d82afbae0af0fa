from archsim.hw.ypu.programs import build_all

for p in build_all():
    print(p)
