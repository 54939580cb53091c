"""seqcnn.interpret.ism.engine"""
